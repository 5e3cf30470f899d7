using Microsoft.AspNetCore.Mvc;

namespace ShopAstro.EdgeApi.OpenApi;

/// <summary>
/// A problem response a route can give: its status and the stable <c>code</c>s a client may meet with it. Read by
/// <see cref="EdgeOperations"/>, which lists the codes in the response's description.
/// </summary>
public sealed record ProblemCodes(int Status, IReadOnlyList<string> Codes);

/// <summary>The problem responses routes declare, for the OpenAPI document (the routes themselves answer them).</summary>
public static class ProblemResponses
{
    public const string ContentType = "application/problem+json";

    /// <summary>Documents a problem details response with <paramref name="status"/> and these codes.</summary>
    public static TBuilder ProducesProblems<TBuilder>(this TBuilder builder, int status, params string[] codes)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(ProblemDetails), [ContentType]), new ProblemCodes(status, codes));

    /// <summary>Any content type, as far as routing is concerned; <see cref="EdgeOperations"/> leaves it out of the document.</summary>
    public const string AnyContentType = "*/*";

    /// <summary>
    /// A JSON body of <typeparamref name="TBody"/>, and the 415 or 400 for one that is not JSON, not well-formed, or
    /// mistyped (<see cref="Http.JsonBody"/>). The route reads the body itself: <see cref="AnyContentType"/> keeps routing
    /// from refusing other content types with a 415 of its own, without the route's code.
    /// </summary>
    public static RouteHandlerBuilder AcceptsJson<TBody>(this RouteHandlerBuilder builder) where TBody : notnull => builder
        .Accepts<TBody>("application/json", AnyContentType)
        .ProducesProblems(StatusCodes.Status400BadRequest, "invalid_json")
        .ProducesProblems(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type");

    /// <summary>
    /// What every route of a store can answer: 400 for an invalid store id or a request the server cannot read (a
    /// malformed chunked body, <see cref="Http.EdgeExceptionHandler"/>), 413 for a body over the limit (every route,
    /// <see cref="Http.BodyLimit"/>), 503 with Retry-After while storage or the cluster is unavailable
    /// (<see cref="Http.EdgeExceptionHandler"/>). 401, 403 and 429 come with the token the routes require.
    /// </summary>
    public static RouteGroupBuilder ProducesStoreProblems(this RouteGroupBuilder store) => store
        .ProducesProblems(StatusCodes.Status400BadRequest, "invalid_id", "bad_request")
        .ProducesProblems(StatusCodes.Status413PayloadTooLarge, "body_too_large")
        .ProducesProblems(StatusCodes.Status503ServiceUnavailable, "unavailable");

    /// <summary>A write lost an optimistic-concurrency race (<see cref="Http.EdgeExceptionHandler"/>): read again and retry.</summary>
    public static RouteHandlerBuilder MayConflict(this RouteHandlerBuilder builder, params string[] codes) =>
        builder.ProducesProblems(StatusCodes.Status409Conflict, ["concurrent_modification", .. codes]);
}
