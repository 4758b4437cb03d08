-- The view every lookup reads. Until the first import it reads the empty template.
SELECT dtks.define_current_view('individuals_template', NULL);
