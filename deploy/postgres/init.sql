-- Run once by the postgres image on an empty volume: one database per service,
-- as each service owns its data. Temporal's own databases are made by auto-setup.
CREATE DATABASE permis_identity;
CREATE DATABASE permis_photocode;
CREATE DATABASE permis_documents;
CREATE DATABASE permis_ctn;
CREATE DATABASE permis_instruction;
CREATE DATABASE permis_production;
CREATE DATABASE permis_support;
