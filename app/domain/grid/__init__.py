"""The grid (SPEC §2): cells and their tree, imports, generation, partition defects, CRSs."""
