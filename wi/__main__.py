from wi.entry import main

main()
