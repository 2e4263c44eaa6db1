// The portal's own script: it only improves pages that work without it.
// - the order page's summary follows the fields (GET /api/v1/pricing/preview);
// - an order's status, the Orders list and pending tenants follow provisioning;
// - the top bar's menu is open on a wide screen; on a narrow one Escape or a tap outside closes it;
// - a table's box that does not scroll leaves the Tab order.
"use strict";
(function () {
  const LABELS = {
    draft: "Draft", placed: "Placed", provision_started: "Provision started",
    provision_finished: "Provision finished", partially_provisioned: "Partially provisioned", provision_failed: "Provision failed", discarded: "Discarded",
    requested: "Requested", verifying: "Verifying", created: "Created", rejected: "Rejected", linked: "Linked",
  };
  const PENDING_ORDER = ["placed", "provision_started"];
  const PENDING_TENANT = ["requested", "verifying"];
  const label = (s) => LABELS[s] || s;

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
    return body;
  }

  function every(ms, fn) {
    let stopped = false;
    const tick = async () => {
      if (stopped) return;
      try { if ((await fn()) === false) { stopped = true; return; } } catch (e) { /* try again next tick */ }
      setTimeout(tick, ms);
    };
    setTimeout(tick, ms);
  }

  // --- live price summary ---------------------------------------------------------
  const form = document.querySelector("form[data-preview]");
  if (form) {
    const status = form.querySelector("[data-preview-status]");
    const cell = (name) => form.querySelector(`[data-cell="${name}"]`);
    const field = (name) => form.elements.namedItem(name);
    const money = (v) => (v === null || v === undefined ? "—" : Number(v).toFixed(2));
    let timer = null;
    let seq = 0;
    const update = async () => {
      const q = new URLSearchParams({ offer_id: form.dataset.offer });
      const quantity = (field("quantity") || {}).value || "1";
      q.set("quantity", quantity);
      const target = ((field("target_price") || {}).value || "").trim().replace(",", ".");
      const markup = ((field("markup_percent") || {}).value || "").trim().replace(",", ".").replace("%", "");
      if (target) q.set("target_price", target); else if (markup) q.set("markup_percent", markup);
      const term = field("term");
      if (term && term.value) q.set("term", term.value);
      const mine = ++seq;
      try {
        const p = await getJSON(`${form.dataset.preview}?${q}`);
        if (mine !== seq) return;
        const n = p.quantity;
        const erpTotal = p.erp_price === null ? null : (Number(p.erp_price) * n).toFixed(2);
        const rows = [
          [1, p.partner_price, p.erp_price, p.customer_price, p.margin],
          [n, p.partner_total, erpTotal, p.total, p.margin_total],
        ];
        rows.forEach((r, i) => {
          const k = i + 1;
          if (cell(`qty-${k}`)) cell(`qty-${k}`).textContent = `${r[0]} ${Number(r[0]) === 1 ? "licence" : "licences"}`;
          if (cell(`partner-${k}`)) cell(`partner-${k}`).textContent = money(r[1]);
          if (cell(`erp-${k}`)) cell(`erp-${k}`).textContent = money(r[2]);
          if (cell(`customer-${k}`)) cell(`customer-${k}`).textContent = money(r[3]);
          if (cell(`margin-${k}`)) cell(`margin-${k}`).textContent = money(r[4]);
        });
        if (cell("total")) cell("total").textContent = money(p.total);
        // at 1 licence the total row would repeat the per-licence row
        const totalRow = form.querySelector('[data-row="total"]');
        if (totalRow) totalRow.hidden = Number(n) === 1;
        if (cell("markup")) {
          cell("markup").textContent = `Markup: ${money(p.markup_percent)}% on top of the default ` +
            `${money(p.default_markup_percent)}%${target ? ", from the target price" : ""}.`;
        }
        if (status) status.textContent = "";
      } catch (e) {
        if (mine === seq && status) status.textContent = e.message;
      }
    };
    form.addEventListener("input", (ev) => {
      if (!["quantity", "markup_percent", "target_price", "term"].includes(ev.target.name)) return;
      clearTimeout(timer);
      timer = setTimeout(update, 200);
    });
  }

  // --- an order's status ----------------------------------------------------------------
  const orderStatus = document.querySelector("[data-poll-order]");
  if (orderStatus && PENDING_ORDER.includes(orderStatus.dataset.status)) {
    every(1000, async () => {
      const o = await getJSON(orderStatus.dataset.pollOrder);
      if (o.status !== orderStatus.dataset.status) {
        orderStatus.dataset.status = o.status;
        orderStatus.textContent = label(o.status);
      }
      if (!PENDING_ORDER.includes(o.status)) { window.location.reload(); return false; }
      return true;
    });
  }

  // --- the Orders list ----------------------------------------------------------------------
  const ordersTable = document.querySelector("[data-poll-orders]");
  if (ordersTable) {
    const cells = () => Array.from(ordersTable.querySelectorAll("[data-order-row]"));
    if (cells().some((c) => PENDING_ORDER.includes(c.dataset.status))) {
      every(1000, async () => {
        const page = await getJSON(ordersTable.dataset.pollOrders);
        const byId = new Map(page.items.map((o) => [o.id, o]));
        for (const c of cells()) {
          const o = byId.get(c.dataset.orderRow);
          if (o && o.status !== c.dataset.status) {
            c.dataset.status = o.status;
            c.textContent = label(o.status);
            const outcome = ordersTable.querySelector(`[data-order-outcome="${o.id}"]`);
            if (outcome && o.failed_count) { outcome.textContent = o.outcome; outcome.parentElement.hidden = false; }
          }
        }
        return cells().some((c) => PENDING_ORDER.includes(c.dataset.status));
      });
    }
  }

  // --- tenants being verified -----------------------------------------------------------------
  for (const el of document.querySelectorAll("[data-poll-tenants]")) {
    every(1500, async () => {
      const page = await getJSON(el.dataset.pollTenants);
      let pending = false;
      for (const t of page.items) {
        if (PENDING_TENANT.includes(t.status)) pending = true;
        if (el.tagName === "SELECT") {
          const opt = Array.from(el.options).find((o) => o.value === t.id);
          if (!opt) continue;
          const usable = t.status === "created" || t.status === "linked";
          opt.disabled = !usable;
          opt.textContent = usable ? t.domain : `${t.domain} (${label(t.status).toLowerCase()})`;
          if (usable && !el.value) el.value = t.id;
        } else {
          const c = el.querySelector(`[data-tenant-status="${t.id}"]`);
          if (c) c.textContent = label(t.status) + (t.rejection_reason ? `: ${t.rejection_reason}` : "");
        }
      }
      return pending;
    });
  }

  // --- the top bar's menu ---------------------------------------------------------------------
  // CSS shows it open from 960 px (::details-content); this does the same where that is not
  // supported, and closes it again when the window narrows.
  const menu = document.querySelector("[data-menu]");
  if (menu) {
    const wide = window.matchMedia("(min-width: 960px)");
    const sync = () => { menu.open = wide.matches; };
    sync();
    wide.addEventListener("change", sync);
    menu.addEventListener("keydown", (ev) => {
      if (ev.key !== "Escape" || wide.matches || !menu.open) return;
      menu.open = false;
      menu.querySelector("summary").focus();
    });
    // a tap outside the open menu closes it
    document.addEventListener("click", (ev) => {
      if (!wide.matches && menu.open && !menu.contains(ev.target)) menu.open = false;
    });
  }

  // --- boxes of wide tables and charts: a Tab stop only while they scroll ------------------------
  const boxes = Array.from(document.querySelectorAll(".table-box[tabindex], .chart-box[tabindex]"));
  const tabStops = () => {
    for (const b of boxes) {
      if (b.scrollWidth > b.clientWidth + 1) b.setAttribute("tabindex", "0"); else b.removeAttribute("tabindex");
    }
  };
  if (boxes.length) {
    tabStops();
    window.addEventListener("resize", () => { clearTimeout(tabStops.timer); tabStops.timer = setTimeout(tabStops, 150); });
  }

  // --- Edit price: go to its form ---------------------------------------------------------------
  for (const a of document.querySelectorAll("[data-reveal]")) {
    a.addEventListener("click", (ev) => {
      const target = document.getElementById(a.dataset.reveal);
      if (!target) return;
      ev.preventDefault();
      target.scrollIntoView({ behavior: "smooth", block: "center" });
      const input = target.querySelector("input:not([type=hidden])");
      if (input) input.focus();
    });
  }
})();
