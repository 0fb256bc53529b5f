"""The sans-IO media layer: FLV tag bodies, FLV files, and the frame demuxer/muxer."""
