-- Loading an applicant's phones and the prior questions of an applicant must not scan.
CREATE INDEX applicant_phones_applicant ON applicant_phones(applicant_id);
CREATE INDEX questions_category_appeal ON questions(category_code, appeal_id);
