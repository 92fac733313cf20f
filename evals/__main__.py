from evals.cli.main import main

main()
