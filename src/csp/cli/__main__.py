from csp.cli import main

main()
