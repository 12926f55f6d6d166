// On every page: the logout button in the header.
import { api, forgetCsrf } from './api.js';

const logout = document.getElementById('logout');
if (logout) {
  logout.addEventListener('click', async () => {
    try {
      await api('POST', '/api/v1/auth/logout');
    } catch {
      // The session may be gone already; the login page is where to go either way.
    }
    forgetCsrf();
    location.assign('/login');
  });
}
