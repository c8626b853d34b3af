"""The Caffe ingestor: the command's solver (prototxt), its log, its snapshots."""
