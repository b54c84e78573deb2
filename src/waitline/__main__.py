from waitline.cli import main

main()
