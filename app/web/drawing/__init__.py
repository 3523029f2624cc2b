"""The pictures, as SVG and PNG: the network diagram (its model, layout and lecture
layout), the charts over epochs and their axes, the input plane, the heatmaps and their
cache, and the PNG encoder."""
