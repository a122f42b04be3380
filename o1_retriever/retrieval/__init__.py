"""The retrieval room: vectors and texts in stores, the lexical side, fusion, and the ``Index`` that puts a model in
front of a store. It imports the model room, never the evaluation room."""
