DROP TABLE dimension_counters;
DROP TABLE artifact_relationships;
DROP TABLE artifact_dimensions;
DROP TABLE artifacts;
DROP TABLE convergences;
