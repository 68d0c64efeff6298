"""The seam to AWS: the only package that imports aioboto3 and botocore, translating their errors
into ours."""
