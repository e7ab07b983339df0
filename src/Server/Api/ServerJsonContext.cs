using System.Text.Json.Serialization;
using MoeServe.Server.Dashboard;

namespace MoeServe.Server.Api;

/// <summary>Source-generated JSON for every type the server reads or writes (snake_case, nulls omitted unless a field says otherwise).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.Strict,
    ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow,
    AllowTrailingCommas = false,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(CompletionRequestDto))]
[JsonSerializable(typeof(ChatCompletionRequestDto))]
[JsonSerializable(typeof(CompletionResponseDto))]
[JsonSerializable(typeof(ChatCompletionResponseDto))]
[JsonSerializable(typeof(ChatCompletionChunkDto))]
[JsonSerializable(typeof(ModelListDto))]
[JsonSerializable(typeof(ModelDto))]
[JsonSerializable(typeof(ErrorBodyDto))]
[JsonSerializable(typeof(DashboardSnapshot))]
[JsonSerializable(typeof(HealthDto))]
[JsonSerializable(typeof(TokenizeRequestDto))]
[JsonSerializable(typeof(DetokenizeRequestDto))]
[JsonSerializable(typeof(TokenizeResponseDto))]
[JsonSerializable(typeof(DetokenizeResponseDto))]
public sealed partial class ServerJsonContext : JsonSerializerContext;

/// <summary>Body of the health endpoints.</summary>
public sealed record HealthDto(string Status, string? Detail);
