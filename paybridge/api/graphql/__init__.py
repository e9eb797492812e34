"""The GraphQL API at /api/v1/graphql (strawberry): the same resources as REST."""
