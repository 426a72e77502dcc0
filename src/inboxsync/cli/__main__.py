from inboxsync.cli.main import main

main()
