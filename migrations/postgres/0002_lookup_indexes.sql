-- Loading an applicant's phones and the prior questions of an applicant must not scan.
CREATE INDEX applicant_phones_applicant ON applicant_phones(applicant_id);
CREATE INDEX questions_category_appeal ON questions(category_code, appeal_id);
-- The main assignment of a question is MIN(id) for its question_id: without (question_id, id)
-- PostgreSQL answers it by walking the primary key, i.e. every assignment.
CREATE INDEX assignments_question_first ON assignments(question_id, id);
