"""The model libraries modelexport ships beyond core's transformers: sentence-transformers and timm.

Each module holds one library plugin (:class:`~modelexport_core.libraries.LibraryPlugin`), named by a
``modelexport.libraries`` entry point; importing one imports neither the library nor a framework.
"""
