CREATE TABLE "instances" (
	"id" text PRIMARY KEY NOT NULL,
	"renewed_at" timestamp (3) with time zone NOT NULL,
	"lease_expires_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "owner" text;