from wi.cli import main

main()
