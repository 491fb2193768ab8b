from bureau_sim.cli import main

main()
