//! One nursery per connection (in progress): see the workspace README.
