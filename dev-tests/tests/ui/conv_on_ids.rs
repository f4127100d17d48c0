// mistakes: 1
kiln::model! {
    struct M {
        input ids: [u32; 16, 4];
        let h = Conv1D(8, 3)(ids);
        output h;
    }
}

fn main() {}
