ALTER TABLE federation_parked DROP COLUMN status;
