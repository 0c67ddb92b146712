// Who is signed in and to which practice, for screens to read (memory only).

export const current = { me: null, practice: null };

export function clearCurrent() {
  current.me = null;
  current.practice = null;
}
