"""The dashboard, ``archiver serve``: pages over the views, replay by pywb, actions through the
pipeline. ``server`` starts it all; ``app`` is the WSGI application; ``pages`` reads what each
page shows; ``replay`` and ``replay_server`` are pywb's two sides; ``actions`` runs the
buttons; ``security`` says who may do what."""
