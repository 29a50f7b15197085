"""ASIC target: gate-level statistics (Yosys), event counts and the energy/area model."""
