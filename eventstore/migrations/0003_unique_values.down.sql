DROP TABLE IF EXISTS unique_values;
