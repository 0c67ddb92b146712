// amazon-chime-sdk-js for the Chime media frame (portal/visit-media/frame.js): what it
// uses to join a meeting with one attendee's credentials, and nothing else.
export {
  DefaultDeviceController,
  DefaultMeetingSession,
  MeetingSessionConfiguration,
  MeetingSessionStatusCode,
  NoOpLogger,
} from "amazon-chime-sdk-js";
