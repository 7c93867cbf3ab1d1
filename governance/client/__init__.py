"""Client libraries for applications that call the serving gateway."""
