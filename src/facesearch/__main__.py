from facesearch.cli import main

raise SystemExit(main())
