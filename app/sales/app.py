"""Sales: revenue, deals and customers, with row-level security (the app is ``salesapp``).

A bundle: the platform runs it with gunicorn (``dash_appkit.serve:application``) under
``/apps/sales/``, and ``python app.py`` runs it locally at ``/``. Configuration comes from
the environment; see :mod:`salesapp`.
"""

from __future__ import annotations

from salesapp import create_app

app = create_app()

if __name__ == "__main__":
    app.run(debug=True)
