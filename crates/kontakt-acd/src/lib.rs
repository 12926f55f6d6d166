//! Sans-IO automatic call distribution: Router::handle(input, now) / poll_output().
