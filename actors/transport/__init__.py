"""Transport actors: move operations from the scheduler to the workers."""
