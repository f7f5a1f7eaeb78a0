"""Reading inputs as they lie on disk: LAION's layouts, reference layouts, single images."""
