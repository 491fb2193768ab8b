from bureau.cli import app

app()
