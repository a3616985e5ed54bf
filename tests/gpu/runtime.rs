//! The GPU runtime: binding chunks, 2-D dispatch, the buffer pool, the pipeline cache,
//! errors (validation, injected faults, a destroyed device) and timing.

use crate::common;

use common::{gpu, open, random_csr, random_vec, rng};
use ifru::gpu::{Fault, Gpu, GpuError, GpuOptions, Record, TimeSource};
use ifru::kernels::adam::{AdamConfig, AdamState, adam_step};
use ifru::kernels::blas::{Scalar, axpby};
use ifru::kernels::pair_loss::{DevicePairs, RECORD, score_bce};
use ifru::kernels::propagate::{PropagationScratch, propagate, uniform_weights};
use ifru::kernels::reduce::dot_value;
use ifru::kernels::spmm::{DeviceCsr, DeviceRowIndex, RowValues, gather, spmm};
use ifru::kernels::{DeviceTable, Plan, RowGeometry};

/// Everything the kernels produce for one fixed input, read back in order.
fn all_kernels(gpu: &Gpu) -> Vec<Vec<f32>> {
    let mut rng = rng(77);
    let (n, dim) = (3001u32, 16u32);
    let (ptr, cols, vals) = random_csr(&mut rng, n as usize, n as usize, 5, Some(11));
    let xh = random_vec(&mut rng, (n * dim) as usize);
    let a = DeviceCsr::upload(gpu, n, &ptr, &cols, &vals).unwrap();
    let x = DeviceTable::upload(gpu, n, dim, &xh, "x").unwrap();
    let y = DeviceTable::zeros(gpu, n, dim, "y").unwrap();
    let e = DeviceTable::zeros(gpu, n, dim, "e").unwrap();
    let g = DeviceTable::zeros(gpu, n, dim, "g").unwrap();
    let scratch = PropagationScratch::new(gpu, n, dim).unwrap();
    let records = gpu
        .upload(&random_vec(&mut rng, n as usize * 4), "records")
        .unwrap();
    // The CSR doubles as a row index: entry e is "row" e of its target.
    let rid: Vec<u32> = (0..cols.len() as u32).map(|e| e % n).collect();
    let index = DeviceRowIndex::upload(gpu, n, &ptr, &cols, &rid).unwrap();
    let pu: Vec<u32> = (0..3000).map(|k| (k * 7919) % n).collect();
    let pi: Vec<u32> = (0..3000).map(|k| (k * 104_729 + 3) % n).collect();
    let labels: Vec<f32> = (0..3000).map(|k| (k % 2) as f32).collect();
    let pairs = DevicePairs::upload(gpu, n, &pu, &pi, &labels).unwrap();
    let scores = gpu.zeros::<f32>(3000 * RECORD as usize, "scores").unwrap();
    let param = gpu.upload(&xh, "param").unwrap();
    let state = AdamState::new(gpu, xh.len()).unwrap();
    let sum = gpu.upload(&xh, "sum").unwrap();

    let plan: Plan<'_> = spmm(gpu, &a, &x, &y)
        .unwrap()
        .then(propagate(gpu, &a, &uniform_weights(2), &x, &e, &scratch).unwrap())
        .then(
            gather(
                gpu,
                &index,
                RowValues {
                    buf: &records,
                    stride: 4,
                    offset: 2,
                },
                &x,
                &g,
                0,
            )
            .unwrap(),
        )
        .then(score_bce(gpu, &pairs, &x, &scores).unwrap())
        .then(adam_step(gpu, AdamConfig::default(), x.values(), &param, &state).unwrap())
        .then(
            axpby(
                gpu,
                Scalar::Host(0.5),
                y.values(),
                Scalar::Host(1.0),
                &sum,
                None,
            )
            .unwrap(),
        );
    gpu.run("all kernels", |pass| plan.record(pass)).unwrap();
    let d = dot_value(gpu, y.values(), e.values()).unwrap();
    vec![
        y.download(gpu).unwrap(),
        e.download(gpu).unwrap(),
        g.download(gpu).unwrap(),
        gpu.download(&scores).unwrap(),
        gpu.download(&param).unwrap(),
        gpu.download(&sum).unwrap(),
        vec![d],
    ]
}

fn assert_bitwise_equal(a: &[Vec<f32>], b: &[Vec<f32>], what: &str) {
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.len(), y.len());
        let same = x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(same, "{what}: output {k} differs");
    }
}

#[test]
fn a_small_binding_cap_forces_chunks_and_changes_no_bit() {
    // 3001 rows x 16 floats = 192 KB per table: a 64 KiB cap splits each into 3 chunks.
    let small = open(GpuOptions {
        binding_cap: Some(64 * 1024),
        ..GpuOptions::default()
    });
    let x = DeviceTable::zeros(&small, 3001, 16, "probe").unwrap();
    assert_eq!(x.chunks(&small).unwrap().len(), 3);
    assert_bitwise_equal(
        &all_kernels(gpu()),
        &all_kernels(&small),
        "chunked vs whole",
    );
}

#[test]
fn a_table_beyond_four_chunks_is_a_clear_error() {
    let small = open(GpuOptions {
        binding_cap: Some(16 * 1024),
        ..GpuOptions::default()
    });
    let x = DeviceTable::zeros(&small, 3001, 16, "x").unwrap();
    let pairs = DevicePairs::upload(&small, 3001, &[0], &[1], &[1.0]).unwrap();
    let out = small.zeros::<f32>(4, "out").unwrap();
    let err = score_bce(&small, &pairs, &x, &out)
        .err()
        .expect("too large")
        .to_string();
    assert!(err.contains("binding cap"), "{err}");
}

#[test]
fn second_grid_dimension_gives_the_same_results() {
    // At most 7 workgroups per dimension: every kernel above needs the y dimension.
    let narrow = open(GpuOptions {
        max_workgroups_per_dim: Some(7),
        ..GpuOptions::default()
    });
    let err = all_kernels_or_limit(&narrow);
    // 7 x 7 = 49 workgroups cannot cover these sizes: the runtime must say so, not truncate.
    assert!(matches!(err, Err(GpuError::Limit { .. })), "{err:?}");
    let wider = open(GpuOptions {
        // 100 per dimension: the spmm (188 workgroups), the element-wise kernels (751) and
        // the pair scoring (188) all spill into the y dimension.
        max_workgroups_per_dim: Some(100),
        ..GpuOptions::default()
    });
    assert_bitwise_equal(&all_kernels(gpu()), &all_kernels(&wider), "2-D grid vs 1-D");
}

fn all_kernels_or_limit(gpu: &Gpu) -> Result<(), GpuError> {
    let x = gpu.zeros::<f32>(64 * 64, "x")?;
    let y = gpu.zeros::<f32>(64 * 64, "y")?;
    axpby(gpu, Scalar::Host(1.0), &x, Scalar::Host(1.0), &y, None).map(|_| ())
}

#[test]
fn more_than_65535_workgroups_on_the_real_limit() {
    let gpu = gpu();
    let per_dim = gpu.max_workgroups_per_dim() as usize;
    let n = per_dim * 64 + 1000; // needs a second row of workgroups
    let x = gpu.upload(&vec![1.0f32; n], "x").unwrap();
    let y = gpu.upload(&vec![2.0f32; n], "y").unwrap();
    let plan = axpby(gpu, Scalar::Host(3.0), &x, Scalar::Host(1.0), &y, None).unwrap();
    gpu.run("big axpby", |p| plan.record(p)).unwrap();
    let got = gpu.download(&y).unwrap();
    assert!(
        got.iter().all(|&v| v == 5.0),
        "every element written exactly once"
    );
}

#[test]
fn pool_memory_stays_flat_when_sizes_repeat() {
    let gpu = open(GpuOptions::default());
    let before = gpu.pool().stats();
    let round = |gpu: &Gpu| {
        let a = gpu.zeros::<f32>(10_000, "a").unwrap();
        let b = gpu.zeros::<f32>(5_000, "b").unwrap();
        gpu.download(&a).unwrap();
        drop(b);
    };
    round(&gpu);
    let after_first = gpu.pool().stats();
    assert!(after_first.held_bytes() > before.held_bytes());
    assert_eq!(
        after_first.live_bytes, before.live_bytes,
        "everything handed back"
    );
    for _ in 0..20 {
        round(&gpu);
    }
    let after = gpu.pool().stats();
    assert_eq!(
        after.held_bytes(),
        after_first.held_bytes(),
        "no growth after the first round"
    );
    assert_eq!(after.high_water_bytes, after_first.high_water_bytes);
    assert!(after.reused >= 60);
    gpu.pool().trim();
    assert_eq!(gpu.pool().stats().cached_bytes, 0);
    gpu.pool().reset_high_water();
    let reset = gpu.pool().stats();
    assert_eq!(reset.high_water_bytes, reset.held_bytes());
    assert!(reset.high_water_bytes < after.high_water_bytes);
}

#[test]
fn resize_keeps_the_prefix() {
    let gpu = gpu();
    let mut buf = gpu.upload(&[1.0f32, 2.0, 3.0], "r").unwrap();
    gpu.resize(&mut buf, 5000).unwrap();
    assert_eq!(buf.len(), 5000);
    assert_eq!(&gpu.download(&buf).unwrap()[..3], &[1.0, 2.0, 3.0]);
    gpu.resize(&mut buf, 2).unwrap();
    assert_eq!(gpu.download(&buf).unwrap(), vec![1.0, 2.0]);
}

#[test]
fn each_pipeline_is_compiled_once_per_device() {
    let gpu = open(GpuOptions::default());
    let x = gpu.zeros::<f32>(100, "x").unwrap();
    let y = gpu.zeros::<f32>(100, "y").unwrap();
    let _first = axpby(&gpu, Scalar::Host(1.0), &x, Scalar::Host(1.0), &y, None).unwrap();
    let compiled = gpu.pipelines_compiled();
    assert_eq!(compiled, 1);
    for _ in 0..5 {
        let _again = axpby(&gpu, Scalar::Host(2.0), &x, Scalar::Host(0.0), &y, None).unwrap();
    }
    assert_eq!(gpu.pipelines_compiled(), compiled);
}

#[test]
fn injected_faults_surface_as_errors() {
    let gpu = open(GpuOptions::default());
    let x = gpu.upload(&[1.0f32; 64], "x").unwrap();
    let y = gpu.upload(&[1.0f32; 64], "y").unwrap();
    let plan = axpby(&gpu, Scalar::Host(1.0), &x, Scalar::Host(1.0), &y, None).unwrap();

    gpu.inject_fault(Fault::Submit);
    let err = gpu.run("step", |p| plan.record(p)).unwrap_err();
    assert!(matches!(err, GpuError::Injected(_)), "{err}");

    gpu.inject_fault(Fault::Map);
    assert!(matches!(gpu.download(&y), Err(GpuError::Injected(_))));

    // A run submits without waiting: the next wait (one of its own, or a read-back's)
    // reports the fault.
    gpu.inject_fault(Fault::Wait);
    gpu.run("step", |p| plan.record(p)).unwrap();
    assert!(matches!(
        gpu.wait("after the step"),
        Err(GpuError::Injected(_))
    ));

    // Each fault fires once; the device keeps working afterwards.
    gpu.run("step", |p| plan.record(p)).unwrap();
    assert!(gpu.download(&y).unwrap().iter().all(|&v| v >= 2.0));
}

#[test]
fn validation_errors_are_errors_not_panics() {
    let gpu = open(GpuOptions::default());
    let small = gpu.zeros::<f32>(4, "small").unwrap();
    // A binding range past the end of its buffer.
    let err = gpu
        .launch(
            &ifru::kernels::shaders::BLAS,
            "fill",
            &[
                (
                    0,
                    gpu.uniform_buffer(&[0u8; 32]).unwrap().as_entire_binding(),
                ),
                (2, small.binding_range(1 << 20, 256)),
            ],
            1,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            GpuError::Device {
                kind: "validation",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_destroyed_device_gives_errors_not_hangs() {
    let gpu = open(GpuOptions::default());
    let x = gpu.upload(&[1.0f32; 256], "x").unwrap();
    let y = gpu.upload(&[1.0f32; 256], "y").unwrap();
    let plan = axpby(&gpu, Scalar::Host(1.0), &x, Scalar::Host(1.0), &y, None).unwrap();
    gpu.destroy();
    let run = gpu.run("after destroy", |p| plan.record(p));
    let read = gpu.download(&y);
    assert!(
        run.is_err() || read.is_err(),
        "a lost device must be reported"
    );
}

#[test]
fn kernels_can_be_timed() {
    let gpu = gpu();
    let (ptr, cols, vals) = random_csr(&mut rng(5), 2000, 2000, 30, None);
    let a = DeviceCsr::upload(gpu, 2000, &ptr, &cols, &vals).unwrap();
    let x = DeviceTable::zeros(gpu, 2000, 64, "x").unwrap();
    let y = DeviceTable::zeros(gpu, 2000, 64, "y").unwrap();
    let plan = spmm(gpu, &a, &x, &y).unwrap();
    let t = gpu.time("spmm", |p| plan.record(p)).unwrap();
    assert!(t.seconds > 0.0 && t.seconds < 60.0, "{t:?}");
    let expected = if gpu.features().timestamp_query {
        TimeSource::Timestamp
    } else {
        TimeSource::WallClock
    };
    assert_eq!(t.source, expected);
}

#[test]
fn unsupported_embedding_sizes_are_named() {
    for dim in [0, 6, 260, 512] {
        let err = RowGeometry::for_dim(dim).unwrap_err().to_string();
        assert!(
            err.contains(&dim.to_string()) && err.contains("multiples of 4"),
            "{err}"
        );
    }
    let err = DeviceTable::zeros(gpu(), 10, 6, "t")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("embedding size 6"), "{err}");
}

#[test]
// A list holding one range is what these calls mean, not a mistaken `vec![0..n]`.
#[allow(clippy::single_range_in_vec_init)]
fn ranges_read_back_in_order_and_out_of_range_is_an_error() {
    let gpu = gpu();
    let values: Vec<f32> = (0..100).map(|v| v as f32 * 0.5).collect();
    let buf = gpu.upload(&values, "values").unwrap();
    let read = gpu.download_ranges(&buf, &[90..100, 3..7, 50..50]).unwrap();
    let want: Vec<f32> = values[90..100]
        .iter()
        .chain(&values[3..7])
        .copied()
        .collect();
    assert_eq!(read, want);
    assert!(gpu.download_ranges(&buf, &[95..101]).is_err());
    // f16 ranges must cover whole 4-byte words.
    let halves = gpu.upload(&[0u16; 8], "halves").unwrap();
    assert!(gpu.download_ranges(&halves, &[1..3]).is_err());
    assert_eq!(
        gpu.download_ranges(&halves, &[2..6]).unwrap(),
        vec![0u16; 4]
    );
}

#[test]
fn row_backups_restore_exactly_the_rows_taken() {
    use ifru::unlearn::backup::RowBackup;
    let gpu = gpu();
    let mut rng = rng(5);
    let (n, dim) = (40u32, 8u32);
    let before = random_vec(&mut rng, (n * dim) as usize);
    let table = DeviceTable::upload(gpu, n, dim, &before, "theta").unwrap();
    let nodes = [0u32, 1, 2, 9, 17, 18, 39];
    let backup = RowBackup::take(gpu, &table, &nodes).unwrap();
    // Kept on the device: nothing to read on the host.
    assert!(backup.values().is_none());
    // Scribble over every row, then restore: the backed-up rows come back bit for bit,
    // the others keep the scribble.
    let scribbled = random_vec(&mut rng, (n * dim) as usize);
    table.values().write(gpu.queue(), &scribbled).unwrap();
    backup.restore(gpu, &table).unwrap();
    let after = table.download(gpu).unwrap();
    for v in 0..n {
        let row = (v * dim) as usize..((v + 1) * dim) as usize;
        let expect = if nodes.contains(&v) {
            &before
        } else {
            &scribbled
        };
        assert_eq!(
            after[row.clone()]
                .iter()
                .map(|x| x.to_bits())
                .collect::<Vec<_>>(),
            expect[row].iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            "row {v}"
        );
    }
}

#[test]
fn copy_rows_copies_exactly_the_listed_rows() {
    use ifru::unlearn::backup::copy_rows;
    let gpu = gpu();
    let (n, dim) = (30u32, 4u32);
    let from_host = random_vec(&mut rng(7), (n * dim) as usize);
    let to_host = random_vec(&mut rng(8), (n * dim) as usize);
    let from = DeviceTable::upload(gpu, n, dim, &from_host, "from").unwrap();
    let to = DeviceTable::upload(gpu, n, dim, &to_host, "to").unwrap();
    let nodes = [0u32, 3, 4, 5, 29];
    copy_rows(gpu, &from, &to, &nodes).unwrap();
    let got = to.download(gpu).unwrap();
    for v in 0..n as usize {
        let row = v * dim as usize..(v + 1) * dim as usize;
        let want = if nodes.contains(&(v as u32)) {
            &from_host
        } else {
            &to_host
        };
        assert_eq!(got[row.clone()], want[row], "row {v}");
    }
    let other = DeviceTable::zeros(gpu, n, dim + 4, "other").unwrap();
    assert!(copy_rows(gpu, &from, &other, &nodes).is_err());
    assert!(copy_rows(gpu, &from, &to, &[n]).is_err());
}

#[test]
fn a_whole_table_backup_is_read_back_and_restores_it() {
    use ifru::unlearn::backup::RowBackup;
    let gpu = gpu();
    let before = random_vec(&mut rng(6), 24);
    let table = DeviceTable::upload(gpu, 6, 4, &before, "theta").unwrap();
    let backup = RowBackup::read_all(gpu, &table).unwrap();
    assert_eq!(backup.values(), Some(&before[..]));
    table.values().write(gpu.queue(), &[0.0; 24]).unwrap();
    backup.restore(gpu, &table).unwrap();
    assert_eq!(table.download(gpu).unwrap(), before);
}

#[test]
fn device_counters_count_dispatches_submissions_readbacks_waits_and_bytes() {
    // A device of its own: the shared one counts other tests' work too.
    let gpu = open(GpuOptions::default());
    let before = gpu.counts();
    let x = gpu.upload(&[1.0f32; 100], "x").unwrap();
    let y = gpu.zeros::<f32>(100, "y").unwrap();
    let plan = axpby(&gpu, Scalar::Host(2.0), &x, Scalar::Host(0.0), &y, None).unwrap();
    gpu.run("axpby", |pass| plan.record(pass)).unwrap();
    let after_run = gpu.counts().since(before);
    assert!(after_run.bytes_up >= 400, "{after_run:?}: the upload");
    assert_eq!(after_run.readbacks, 0, "{after_run:?}");
    assert_eq!(after_run.waits, 0, "{after_run:?}: a run only submits");
    let launches = plan.launch_count() as u64;
    assert!(launches >= 1);
    assert_eq!(after_run.dispatches, launches, "{after_run:?}");
    let y_host = gpu.download(&y).unwrap();
    assert_eq!(y_host, vec![2.0f32; 100]);
    let all = gpu.counts().since(before);
    assert_eq!(all.readbacks, 1, "{all:?}");
    assert_eq!(all.waits, 0, "{all:?}: a read-back's waiting is its own");
    assert_eq!(all.bytes_down, 400, "{all:?}");
    gpu.wait("counted").unwrap();
    assert_eq!(gpu.counts().since(before).waits, 1);
    assert!(
        all.submissions >= 2,
        "{all:?}: zeros, run and the read-back copy"
    );
}

#[test]
fn reads_ride_along_with_the_next_read_back() {
    let gpu = open(GpuOptions::default());
    let a = gpu.upload(&[1.0f32, 2.0, 3.0], "a").unwrap();
    let b = gpu.upload(&[4.0f32, 5.0], "b").unwrap();
    let before = gpu.counts();
    let first = gpu.read_later(&a, 2).unwrap();
    let second = gpu.read_later(&a, 3).unwrap();
    // The copy is taken now: a later write to `a` does not change what is read.
    a.write(gpu.queue(), &[9.0, 9.0, 9.0]).unwrap();
    assert!(!first.is_ready());
    assert_eq!(gpu.counts().since(before).readbacks, 0);
    // Any read-back carries them.
    assert_eq!(gpu.download(&b).unwrap(), vec![4.0, 5.0]);
    let counts = gpu.counts().since(before);
    assert_eq!(
        (counts.readbacks, counts.bytes_down),
        (1, 8 + 8 + 12),
        "{counts:?}"
    );
    assert!(first.is_ready() && second.is_ready());
    assert_eq!(gpu.values_of(&first).unwrap(), vec![1.0, 2.0]);
    assert_eq!(gpu.values_of(&second).unwrap(), vec![1.0, 2.0, 3.0]);
    assert_eq!(gpu.counts().since(before).readbacks, 1);
    // Alone, `values_of` reads it (one round trip), and a read with nothing waiting reads nothing.
    let alone = gpu.read_later(&a, 3).unwrap();
    assert_eq!(gpu.values_of(&alone).unwrap(), vec![9.0; 3]);
    assert_eq!(gpu.counts().since(before).readbacks, 2);
    gpu.read_pending().unwrap();
    assert_eq!(gpu.counts().since(before).readbacks, 2);
}

/// One device, several threads: a thread's read-back may carry another thread's waiting copy
/// along; the other thread still gets its own values.
#[test]
fn reads_that_ride_along_reach_their_own_thread() {
    let gpu = std::sync::Arc::new(open(GpuOptions::default()));
    // Large read-backs on one thread keep a carried copy in flight for a while.
    let big = {
        let gpu = std::sync::Arc::clone(&gpu);
        std::thread::spawn(move || {
            let buf = gpu.zeros::<f32>(4 << 20, "big").unwrap();
            for _ in 0..40 {
                assert_eq!(gpu.download(&buf).unwrap().len(), 4 << 20);
            }
        })
    };
    let mut workers: Vec<_> = (0..3)
        .map(|w| {
            let gpu = std::sync::Arc::clone(&gpu);
            std::thread::spawn(move || {
                for k in 0..100 {
                    let value = (w * 1000 + k) as f32;
                    let buf = gpu.upload(&[value, -value], "mine").unwrap();
                    let later = gpu.read_later(&buf, 2).unwrap();
                    if k % 2 == 0 {
                        // Another read of this thread's: it may or may not carry `later`.
                        gpu.download(&buf).unwrap();
                    } else {
                        // Time for the big reads to carry `later` and still be mapping.
                        std::thread::sleep(std::time::Duration::from_micros(500));
                    }
                    assert_eq!(gpu.values_of(&later).unwrap(), vec![value, -value]);
                }
            })
        })
        .collect();
    workers.push(big);
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn several_buffers_read_back_in_one_round_trip() {
    let gpu = open(GpuOptions::default());
    let a = gpu.upload(&[1.0f32, 2.0, 3.0], "a").unwrap();
    let b = gpu.upload(&[4.0f32, 5.0, 6.0, 7.0, 8.0], "b").unwrap();
    let empty = gpu.zeros::<f32>(4, "empty").unwrap();
    let before = gpu.counts();
    let got = gpu.download_all(&[(&a, 3), (&empty, 0), (&b, 2)]).unwrap();
    assert_eq!(got, vec![vec![1.0, 2.0, 3.0], vec![], vec![4.0, 5.0]]);
    let counts = gpu.counts().since(before);
    assert_eq!((counts.readbacks, counts.bytes_down), (1, 20), "{counts:?}");
}
