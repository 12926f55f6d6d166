//! Sans-IO appeal lifecycle: applicants, appeals, questions, states, results and legal deadlines.
