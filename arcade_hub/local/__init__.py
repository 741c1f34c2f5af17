"""The embedded backend: sessions as local processes, isolated as far as the OS allows."""
