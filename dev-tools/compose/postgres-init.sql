-- Database per service (one server in development).
CREATE DATABASE orders;
CREATE DATABASE inventory;
CREATE DATABASE payments;
