-- A claim on an Idempotency-Key carries a token of its own, so a request
-- that ran so long its claim was taken over can neither store its response
-- over the newer request's nor free the newer claim (issue 18).
ALTER TABLE idempotent_responses ADD COLUMN claim uuid;
