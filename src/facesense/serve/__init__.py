"""A small web page and JSON API over the same detector and classifiers as `facesense live`."""
