"""The leaf layer: paths, hashing, file and lock utilities, frame helpers, SQL quoting and metadata loaders; imports no other pipeline package."""
