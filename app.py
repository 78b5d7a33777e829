from stations import create_app

app = create_app()
