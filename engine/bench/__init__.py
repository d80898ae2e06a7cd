"""The benchmark suite behind ``tdkt bench``: workloads, the SpiffWorkflow floor, the engine at service level,
bulk seeding for scale measurements, timers and a memory soak. Imported only by the bench command and its test.
"""
