"""The evaluation room: BEIR benchmarks, metrics, the systems ``o1-retriever evaluate`` runs, and reports. It may
import every other room; nothing in them imports it."""
