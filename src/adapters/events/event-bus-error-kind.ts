/**
 * Failures of a bus, counted as callbridge_errors_total{kind}: an event that could not be sent
 * to the other instances, the lost connection that receives theirs, and an event of another
 * instance dropped because its row could not be read.
 */
export type EventBusErrorKind = "event_bus_send" | "event_bus_listen" | "event_bus_load";
