from sharedcenter.cli import main

main()
