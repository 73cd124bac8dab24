//! Benchmarks for strela: criterion suites and the load bench (grown by the benchmarks issue).
